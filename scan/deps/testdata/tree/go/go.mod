module example.com/app

go 1.22

require (
	github.com/Azure/go-ntlmssp v0.0.0-20221128193559-754e69321358
	golang.org/x/net v0.0.0-20190620200207-3b0461eec859
	golang.org/x/text v0.3.5
)

require golang.org/x/crypto v0.0.0-20220722155217-630584e8d5aa // indirect
