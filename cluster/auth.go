package cluster

import (
	"encoding/json"
	"net/http"
	"strings"
)

// TokenEnv is the environment variable a query node reads the secret it
// presents to writers from, when --cluster.token-file is not set.
const TokenEnv = "SILT_CLUSTER_TOKEN"

// Authorizer decides whether a secret presented to a writer's internal API
// may call it: name is the token's (for the refusal; never the secret),
// known that the secret is one of the node's tokens, allowed that it has
// the cluster scope.
type Authorizer func(secret string) (name string, known, allowed bool)

// RequireToken guards a writer's internal API when auth is on: each call
// must present a token with the cluster scope as Authorization: Bearer S
// (or Token S). Without one the answer is 401 unauthorized; with a token
// that lacks the scope, 403 insufficient-scope; both in the public API's
// error shape {"error", "code"}.
func RequireToken(next http.Handler, check Authorizer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		secret := bearer(r.Header.Get("Authorization"))
		if secret == "" {
			refuse(w, http.StatusUnauthorized, "unauthorized",
				"authentication required: the internal API needs Authorization: Bearer <token> with a token of the cluster scope")
			return
		}
		name, known, allowed := check(secret)
		switch {
		case !known:
			refuse(w, http.StatusUnauthorized, "unauthorized", "invalid token (from the Authorization header)")
		case !allowed:
			refuse(w, http.StatusForbidden, "insufficient-scope", "token "+name+" lacks the cluster scope for "+r.URL.Path)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// bearer returns the secret of an Authorization header, Bearer or Token
// scheme, or "".
func bearer(h string) string {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	switch strings.ToLower(scheme) {
	case "bearer", "token":
		return strings.TrimSpace(rest)
	}
	return ""
}

func refuse(w http.ResponseWriter, status int, code, msg string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="silt-cluster"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg, "code": code})
}
