module example.com/fixed

go 1.25

require (
	github.com/Azure/go-ntlmssp v0.1.1
	golang.org/x/text v0.41.0
)
