package replica

// AgreementKeysForTest returns the private halves of the key-agreement keys
// this device holds in the group (§6.4), oldest first: for tests of other
// packages that look for them in what a device stores.
func (r *Replica) AgreementKeysForTest() [][]byte {
	var out [][]byte
	for _, k := range r.own {
		if k.hybrid != nil {
			out = append(out, k.hybrid.Bytes())
		} else {
			out = append(out, k.legacy.Bytes())
		}
	}
	return out
}
