package crawlers

// automaton is an Aho–Corasick automaton over ASCII-lowercased bytes: one pass over a
// User-Agent reports every occurrence of every key. Transitions are a dense DFA table
// over byte classes (bytes no key uses share one class), so a step is two loads.
type automaton struct {
	class  [256]uint8 // byte (before lowercasing) -> column in delta
	stride uint32     // number of classes
	// delta[row+class] is the next state as its row (state*stride), with hasOutput set
	// when keys end there: the scan loop needs no multiply and, for most bytes, no
	// second load.
	delta []uint32
	// outStart[s]:outStart[s+1] indexes outKeys with every key that ends at state s,
	// including keys reached through suffix links.
	outStart []uint32
	outKeys  []int32
}

// hasOutput flags a delta entry whose state ends at least one key.
const hasOutput = 1 << 31

// acKey is one key of the automaton: a lowercased literal and the rule it stands for.
type acKey struct {
	lit  string
	rule int32
}

// buildAutomaton compiles keys; key i is reported as i.
func buildAutomaton(keys []acKey) *automaton {
	a := &automaton{}
	// Byte classes: one per distinct byte used by a (lowercased) key, plus class 0 for
	// all others; keys hold no 'A'-'Z', so there are at most 231.
	var used [256]bool
	for _, k := range keys {
		for i := 0; i < len(k.lit); i++ {
			used[k.lit[i]] = true
		}
	}
	var classOf [256]uint8
	n := 1
	for c := 0; c < 256; c++ {
		if used[c] {
			classOf[c] = uint8(n)
			n++
		}
	}
	for c := 0; c < 256; c++ {
		a.class[c] = classOf[lowerTable[c]]
	}
	a.stride = uint32(n)

	// Trie: edges go straight into the dense table (0 means "no edge" while building,
	// as no edge leads back to the root); there are at most 1+total key bytes states.
	maxStates := 1
	for _, k := range keys {
		maxStates += len(k.lit)
	}
	stride := a.stride
	delta := make([]uint32, maxStates*n)
	fail := make([]uint32, 1, maxStates)
	outs := make([][]int32, 1, maxStates)
	for i, k := range keys {
		s := uint32(0)
		for j := 0; j < len(k.lit); j++ {
			e := s*stride + uint32(classOf[k.lit[j]])
			if delta[e] == 0 {
				delta[e] = uint32(len(outs))
				fail = append(fail, 0)
				outs = append(outs, nil)
			}
			s = delta[e]
		}
		outs[s] = append(outs[s], int32(i))
	}
	nStates := len(outs)
	delta = delta[:nStates*n]

	// Breadth-first: suffix links, inherited outputs and the missing DFA transitions.
	// A row is filled in only when its state is dequeued, so until then its non-zero
	// entries are exactly the state's trie edges.
	queue := make([]uint32, 0, nStates)
	for c := uint32(0); c < stride; c++ {
		if nx := delta[c]; nx != 0 {
			queue = append(queue, nx)
		}
	}
	for qi := 0; qi < len(queue); qi++ {
		s := queue[qi]
		f := fail[s]
		if len(outs[f]) > 0 {
			outs[s] = append(outs[s], outs[f]...)
		}
		for c := uint32(0); c < stride; c++ {
			e := s*stride + c
			if nx := delta[e]; nx != 0 {
				fail[nx] = delta[f*stride+c]
				queue = append(queue, nx)
			} else {
				delta[e] = delta[f*stride+c]
			}
		}
	}
	a.delta = delta

	a.outStart = make([]uint32, nStates+1)
	for s := range outs {
		a.outStart[s] = uint32(len(a.outKeys))
		a.outKeys = append(a.outKeys, outs[s]...)
	}
	a.outStart[nStates] = uint32(len(a.outKeys))

	// Re-encode targets as rows with the output flag (see delta).
	for i, nx := range a.delta {
		v := nx * a.stride
		if len(outs[nx]) > 0 {
			v |= hasOutput
		}
		a.delta[i] = v
	}
	return a
}

// outputs returns the keys ending at the state whose delta entry is v.
func (a *automaton) outputs(v uint32) []int32 {
	s := (v &^ hasOutput) / a.stride
	return a.outKeys[a.outStart[s]:a.outStart[s+1]]
}

// states reports the number of automaton states (for Stats).
func (a *automaton) states() int { return len(a.outStart) - 1 }
