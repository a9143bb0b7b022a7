package main

import (
	"crypto/subtle"
	"log/slog"
	"net/http"

	"github.com/siltdb/silt/cluster"
	"github.com/siltdb/silt/server"
)

// internalAuth guards a writer's internal API with the node's API tokens:
// with auth on (any token), each call needs one with the cluster scope;
// with auth off the API stays open, as before.
func internalAuth(h http.Handler, tokens []server.Token, log *slog.Logger) http.Handler {
	if len(tokens) == 0 {
		return h
	}
	if server.ClusterToken(tokens) == nil {
		log.Warn("auth is on and no token has the cluster scope: query nodes cannot read this writer's rows outside the bucket (add a NAME:SECRET:cluster token)")
	}
	return cluster.RequireToken(h, func(secret string) (string, bool, bool) {
		for i := range tokens {
			t := &tokens[i]
			if subtle.ConstantTimeCompare([]byte(t.Secret), []byte(secret)) == 1 {
				return t.Name, true, t.Cluster
			}
		}
		return "", false, false
	})
}

// clusterSecret is the secret a query node presents to writers:
// --cluster.token-file or $SILT_CLUSTER_TOKEN, else the first of the
// node's own tokens with the cluster scope, else none (writers with auth
// off need none). Logged by source, never by value.
func clusterSecret(cfg *serveConfig, log *slog.Logger) string {
	switch {
	case cfg.cluster.Token != "":
		log.Info("presenting a cluster token to writers", "from", "--cluster.token-file or $"+cluster.TokenEnv)
		return cfg.cluster.Token
	case server.ClusterToken(cfg.server.Tokens) != nil:
		t := server.ClusterToken(cfg.server.Tokens)
		log.Info("presenting a cluster token to writers", "from", "the node's API tokens", "token", t.Name)
		return t.Secret
	}
	return ""
}
