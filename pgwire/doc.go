// Package pgwire serves Silt's SQL over the PostgreSQL wire protocol
// (version 3.0), so that psql, pgx, psycopg2, Grafana's PostgreSQL data
// source and other PostgreSQL clients query Silt as they query PostgreSQL.
// Queries run on the executor of /api/v1/sql (Backend), under its limits
// and with its tokens; messages are encoded and decoded by pgx's
// pgproto3.
//
// A connection's life:
//
//	client                               server
//	  SSLRequest ───────────────────────►  'S' and a TLS handshake with a
//	                                      key pair configured, else 'N'
//	  StartupMessage (user, database) ──►  AuthenticationCleartextPassword
//	  PasswordMessage (a token) ────────►  (only with tokens configured)
//	                                 ◄──  AuthenticationOk, ParameterStatus…,
//	                                      BackendKeyData, ReadyForQuery
//	  Query "a; b" ─────────────────────►  per statement: RowDescription,
//	                                      DataRow…, CommandComplete (or
//	                                      ErrorResponse, which ends the
//	                                      string); ReadyForQuery
//	  Parse/Bind/Describe/Execute… Sync ►  ParseComplete, BindComplete, …,
//	                                      ReadyForQuery; after an error the
//	                                      rest up to Sync is skipped
//	  CancelRequest (new connection) ───►  cancels the query running on
//	                                      the connection with that key
//	  Terminate ────────────────────────►  closed
//
// The catalog queries psql's \l, \dt and \d send, and the session commands
// clients send on connect (SET, SHOW, BEGIN, version()…), are answered
// from Silt's own catalog (catalog.go, session.go); everything else goes to
// the SQL planner. Silt is read-only here: INSERT and other writes are
// refused with SQLSTATE 0A000.
package pgwire
