package pgwire

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// SCRAM-SHA-256 (RFC 5802 and 7677, as PostgreSQL speaks it) lets a
// client prove it knows a token without sending it, which matters when
// the connection is not encrypted. The password is one of Silt's tokens
// and the user name is free (as with the cleartext exchange), so the
// server cannot look one credential up before the proof arrives, as SCRAM
// libraries' servers do: it sends one salt for all tokens, then checks
// the proof against each token's keys. The salt is drawn when the
// listener starts, so each token's salted password (4096 PBKDF2 rounds) is
// derived once and kept, and a login costs a few HMACs per token.

const (
	scramMechanism  = "SCRAM-SHA-256"
	scramIterations = 4096 // PostgreSQL's default scram_iterations
	scramNonceBytes = 18   // 24 characters of base64, as PostgreSQL's
)

// errSCRAMProtocol marks a malformed SCRAM message, a protocol violation
// (SQLSTATE 08P01) rather than a wrong password.
var errSCRAMProtocol = errors.New("invalid SCRAM exchange")

func scramProtocolError(msg string) error { return fmt.Errorf("%w: %s", errSCRAMProtocol, msg) }

// scramKeys are the keys derived from one token under the listener's salt.
type scramKeys struct {
	stored [sha256.Size]byte // H(ClientKey)
	server [sha256.Size]byte // ServerKey
}

// scramState is the listener's salt and the keys derived from it, by
// token secret.
type scramState struct {
	salt [16]byte
	mu   sync.Mutex
	keys map[string]scramKeys
}

func newSCRAMState() (*scramState, error) {
	s := &scramState{keys: map[string]scramKeys{}}
	if _, err := rand.Read(s.salt[:]); err != nil {
		return nil, fmt.Errorf("draw the SCRAM salt: %w", err)
	}
	return s, nil
}

// keysOf derives secret's keys, or returns them from the cache.
func (s *scramState) keysOf(secret string) scramKeys {
	s.mu.Lock()
	k, ok := s.keys[secret]
	s.mu.Unlock()
	if ok {
		return k
	}
	// PostgreSQL's clients normalize the password with SASLprep, which
	// leaves printable ASCII (what tokens are made of) as it is.
	salted, err := pbkdf2.Key(sha256.New, secret, s.salt[:], scramIterations, sha256.Size)
	if err != nil {
		panic("pbkdf2 with fixed valid parameters: " + err.Error())
	}
	ck := hmacSHA256(salted, "Client Key")
	k.stored = sha256.Sum256(ck[:])
	k.server = hmacSHA256(salted, "Server Key")
	s.mu.Lock()
	s.keys[secret] = k
	s.mu.Unlock()
	return k
}

func hmacSHA256(key []byte, msg string) [sha256.Size]byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// scramExchange is one login's exchange, between the client's first
// message and its proof.
type scramExchange struct {
	gs2Header       string // "n,," or "y,,": echoed base64 in the final message
	clientFirstBare string
	serverFirst     string
	nonce           string // the client's nonce and the server's
}

// clientFirst reads the client-first-message and returns the
// server-first-message. Channel binding ("p=") is refused: Silt offers
// SCRAM only without TLS, where there is no channel to bind to.
func (s *scramState) clientFirst(msg string) (*scramExchange, string, error) {
	var x scramExchange
	var rest string
	switch {
	case strings.HasPrefix(msg, "n,"), strings.HasPrefix(msg, "y,"):
		// "y": the client could bind but the server did not offer it.
		rest = msg[2:]
	case strings.HasPrefix(msg, "p="):
		return nil, "", scramProtocolError("SCRAM channel binding is not offered without TLS")
	default:
		return nil, "", scramProtocolError("malformed SCRAM client-first-message: bad GS2 header")
	}
	authzid, bare, ok := strings.Cut(rest, ",")
	if !ok || authzid != "" && !strings.HasPrefix(authzid, "a=") {
		return nil, "", scramProtocolError("malformed SCRAM client-first-message: bad GS2 header")
	}
	x.gs2Header = msg[:len(msg)-len(bare)]
	if strings.HasPrefix(bare, "m=") {
		return nil, "", scramProtocolError("SCRAM extensions (m=) are not supported")
	}
	// n=user,r=nonce[,extensions]: PostgreSQL clients send an empty user
	// (the startup message names it).
	attrs := strings.Split(bare, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") || len(attrs[1]) == 2 {
		return nil, "", scramProtocolError("malformed SCRAM client-first-message: expected n=...,r=<nonce>")
	}
	cnonce := attrs[1][2:]
	for _, c := range cnonce {
		if c < 0x21 || c > 0x7e || c == ',' {
			return nil, "", scramProtocolError("malformed SCRAM client nonce")
		}
	}
	var sn [scramNonceBytes]byte
	if _, err := rand.Read(sn[:]); err != nil {
		return nil, "", fmt.Errorf("draw the SCRAM nonce: %w", err)
	}
	x.clientFirstBare = bare
	x.nonce = cnonce + base64.StdEncoding.EncodeToString(sn[:])
	x.serverFirst = "r=" + x.nonce + ",s=" + base64.StdEncoding.EncodeToString(s.salt[:]) + ",i=" + strconv.Itoa(scramIterations)
	return &x, x.serverFirst, nil
}

// clientFinal reads the client-final-message and has find look for the
// token the proof was made from (find's error is returned as it is); it
// returns the server-final-message for that token.
func (s *scramState) clientFinal(x *scramExchange, msg string, find func(match func(secret string) bool) error) (string, error) {
	withoutProof, proofAttr, ok := strings.Cut(msg, ",p=")
	if !ok || strings.Contains(proofAttr, ",") {
		return "", scramProtocolError("malformed SCRAM client-final-message: expected ...,p=<proof> last")
	}
	attrs := strings.Split(withoutProof, ",")
	if len(attrs) < 2 || attrs[0] != "c="+base64.StdEncoding.EncodeToString([]byte(x.gs2Header)) {
		return "", scramProtocolError("SCRAM channel binding attribute does not match the client's first message")
	}
	if attrs[1] != "r="+x.nonce {
		return "", scramProtocolError("SCRAM nonce does not match the server's")
	}
	proof, err := base64.StdEncoding.DecodeString(proofAttr)
	if err != nil || len(proof) != sha256.Size {
		return "", scramProtocolError("malformed SCRAM proof")
	}
	authMsg := x.clientFirstBare + "," + x.serverFirst + "," + withoutProof
	var found scramKeys
	err = find(func(secret string) bool {
		k := s.keysOf(secret)
		sig := hmacSHA256(k.stored[:], authMsg)
		var ck [sha256.Size]byte
		for i := range ck {
			ck[i] = proof[i] ^ sig[i]
		}
		h := sha256.Sum256(ck[:])
		if subtle.ConstantTimeCompare(h[:], k.stored[:]) != 1 {
			return false
		}
		found = k
		return true
	})
	if err != nil {
		return "", err
	}
	ss := hmacSHA256(found.server[:], authMsg)
	return "v=" + base64.StdEncoding.EncodeToString(ss[:]), nil
}
