module github.com/berty-go/berty

go 1.26.8

require (
	filippo.io/edwards25519 v1.1.0
	golang.org/x/crypto v0.58.0
)

require golang.org/x/sys v0.49.0 // indirect
