module example.com/old

go 1.16

require golang.org/x/text v0.3.5
