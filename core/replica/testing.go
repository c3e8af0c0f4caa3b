package replica

// AgreementKeysForTest returns the private halves of the key-agreement keys
// this device holds in the group (§6.4), oldest first: for tests of other
// packages that look for them in what a device stores.
func (r *Replica) AgreementKeysForTest() [][]byte {
	var out [][]byte
	for _, k := range r.own {
		out = append(out, k.priv.Bytes())
	}
	return out
}
