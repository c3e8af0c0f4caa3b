package seal

import "github.com/berty-go/berty/internal/kat"

// The known-answer vectors need a fixed ML-KEM ciphertext (see Encapsulate).
func init() { Encapsulate = kat.Encapsulate768 }
