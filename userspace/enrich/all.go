package enrich

// All is a copy of the table (live captures name every VNI's session and
// resolve `session NAME` filters with it).
func (s *Sessions) All() map[uint32]Session {
	m := s.m.Load()
	out := map[uint32]Session{}
	if m != nil {
		for k, v := range *m {
			out[k] = v
		}
	}
	return out
}
