package query

import "encoding/json"

// AppendJSONString appends s as encoding/json's Marshal writes a string,
// byte for byte: quoted as is when it is printable ASCII that Marshal
// leaves alone (no quote, backslash or HTML character), through Marshal
// otherwise. Answers are mostly such strings (tag values), and Marshal
// allocates for each.
func AppendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := json.Marshal(s) // a string always marshals
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
