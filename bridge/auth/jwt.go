package auth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wsbridge/wsbridge/bridge"
)

// JWTCookie is the default name of the cookie that may carry a JWT
// (--jwt-cookie).
const JWTCookie = "wsbridge_jwt"

// JWTQueryParam is the query parameter that may carry a JWT: browsers
// cannot set headers on a WebSocket upgrade.
const JWTQueryParam = "access_token"

// DefaultJWTLeeway is --jwt-leeway's default: the clock skew allowed
// between the token's issuer and this server for exp, nbf and iat.
const DefaultJWTLeeway = 30 * time.Second

// minHMACSecret is the shortest HMAC secret --jwt-key accepts: RFC 7518
// §3.2 wants a key as long as the hash, 256 bits for HS256.
const minHMACSecret = 32

// JWTOptions configure NewJWT.
type JWTOptions struct {
	// KeyFiles hold an HMAC secret or PEM public keys each (--jwt-key).
	KeyFiles []string
	// JWKSURL is a JWK Set to fetch the keys from (--jwks-url), every
	// JWKSRefresh (default an hour) and on an unknown kid.
	JWKSURL     string
	JWKSRefresh time.Duration
	// Issuer and Audience, when set, must match iss and aud.
	Issuer, Audience string
	// Leeway is the clock skew allowed for exp, nbf and iat.
	Leeway time.Duration
	// UserClaim names the claim that is REMOTE_USER; "": sub.
	UserClaim string
	// Cookie names the cookie that may carry the token; "": JWTCookie.
	Cookie string
	Logger *slog.Logger
	// HTTPClient fetches the JWK Set; nil: one with jwksTimeout.
	HTTPClient *http.Client
	// OnJWKSFetch, if set, is told of each JWK Set fetch after the first,
	// nil for a success (metrics).
	OnJWKSFetch func(error)
}

// JWT verifies JSON Web Tokens signed with the keys of --jwt-key files or
// of a JWK Set (--jwks-url). Only an algorithm some key is of is accepted:
// "none" never, and an HMAC token is checked against the HMAC secrets
// alone, never against the bytes of a public key (the classic confusion of
// HS256 with an RSA public key as its secret).
type JWT struct {
	opts   JWTOptions
	static []verifyKey
	jwks   *jwksStore // nil without --jwks-url
	parser *jwt.Parser
	log    *slog.Logger
}

// verifyKey is a key of --jwt-key: an HMAC secret ([]byte) or a public key.
type verifyKey struct {
	key  any
	file string
}

// NewJWT loads the keys of opts, fetching the JWK Set once: a key that
// cannot be read or a first fetch that fails is an error naming its flag.
func NewJWT(opts JWTOptions) (*JWT, error) {
	if opts.UserClaim == "" {
		opts.UserClaim = "sub"
	}
	if opts.Cookie == "" {
		opts.Cookie = JWTCookie
	}
	if opts.JWKSRefresh <= 0 {
		opts.JWKSRefresh = time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	j := &JWT{opts: opts, log: opts.Logger}
	for _, name := range opts.KeyFiles {
		keys, err := loadKeyFile(name)
		if err != nil {
			return nil, fmt.Errorf("--jwt-key=%s: %w", name, err)
		}
		j.static = append(j.static, keys...)
	}
	if opts.JWKSURL != "" {
		s, err := newJWKSStore(opts.JWKSURL, opts.HTTPClient, opts.Logger, opts.OnJWKSFetch)
		if err != nil {
			return nil, fmt.Errorf("--jwks-url=%s: %w", opts.JWKSURL, err)
		}
		j.jwks = s
	}
	if len(j.static) == 0 && j.jwks == nil {
		return nil, errors.New("no JWT keys: use --jwt-key or --jwks-url")
	}
	popts := []jwt.ParserOption{
		jwt.WithLeeway(opts.Leeway),
		jwt.WithIssuedAt(),
		// A token without exp would make a session that never ends.
		jwt.WithExpirationRequired(),
		// Numbers stay as written: a numeric user claim is REMOTE_USER
		// exactly.
		jwt.WithJSONNumber(),
	}
	if opts.Issuer != "" {
		popts = append(popts, jwt.WithIssuer(opts.Issuer))
	}
	if opts.Audience != "" {
		popts = append(popts, jwt.WithAudience(opts.Audience))
	}
	j.parser = jwt.NewParser(popts...)
	return j, nil
}

// RefreshJWKS fetches the JWK Set every --jwks-refresh until ctx ends; a
// failed fetch keeps the keys there are. Without --jwks-url it returns at
// once. The server runs it and waits for it.
func (j *JWT) RefreshJWKS(ctx context.Context) {
	if j.jwks == nil {
		return
	}
	t := time.NewTicker(j.opts.JWKSRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			j.jwks.refresh(ctx, "interval")
		}
	}
}

// loadKeyFile reads one --jwt-key file: PEM public keys (or certificates)
// when it holds a PEM block, else an HMAC secret, its surrounding blanks
// (a trailing newline) trimmed.
func loadKeyFile(name string) ([]verifyKey, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	if !bytes.Contains(b, []byte("-----BEGIN ")) {
		secret := bytes.TrimSpace(b)
		if len(secret) < minHMACSecret {
			return nil, fmt.Errorf("an HMAC secret of %d bytes: want at least %d (or PEM public keys)", len(secret), minHMACSecret)
		}
		return []verifyKey{{key: secret, file: name}}, nil
	}
	var keys []verifyKey
	rest := b
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		key, err := parsePublicKey(block)
		if err != nil {
			return nil, err
		}
		keys = append(keys, verifyKey{key: key, file: name})
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM block could be read")
	}
	return keys, nil
}

// parsePublicKey reads a PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE block. A
// private key is refused: it has no business on the verifying side.
func parsePublicKey(block *pem.Block) (any, error) {
	var key any
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	default:
		return nil, fmt.Errorf("a PEM %q block: want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE (never a private key)", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("PEM %q block: %w", block.Type, err)
	}
	switch key.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return key, nil
	}
	return nil, fmt.Errorf("a %T: want an RSA, ECDSA or Ed25519 public key", key)
}

// fits reports whether key verifies signatures of alg: HS* an HMAC
// secret, RS* and PS* an RSA key, ES256/384/512 an ECDSA key on P-256,
// P-384 or P-521, EdDSA an Ed25519 key.
func fits(alg string, key any) bool {
	switch k := key.(type) {
	case []byte:
		return alg == "HS256" || alg == "HS384" || alg == "HS512"
	case *rsa.PublicKey:
		switch alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
			return true
		}
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return k.Curve == elliptic.P256()
		case "ES384":
			return k.Curve == elliptic.P384()
		case "ES512":
			return k.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// jwtFailure is why a token was refused: Reason labels the metric and the
// log, Text is for the log, the 401's body and its WWW-Authenticate.
type jwtFailure struct {
	Reason string
	Text   string
}

func (f *jwtFailure) Error() string { return f.Text }

var (
	errAlgNone    = &jwtFailure{"alg_none", `alg "none" is refused`}
	errNoToken    = &jwtFailure{"missing", "no token"}
	errUnknownKey = &jwtFailure{"unknown_key", "no key with the token's kid"}
)

// keyFor picks the keys that may have signed t: those of --jwt-key of its
// algorithm's kind, and the JWK Set's (by kid when the token names one).
func (j *JWT) keyFor(ctx context.Context) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		alg := t.Method.Alg()
		if strings.EqualFold(alg, "none") {
			return nil, errAlgNone
		}
		var keys []jwt.VerificationKey
		for _, k := range j.static {
			if fits(alg, k.key) {
				keys = append(keys, k.key)
			}
		}
		if j.jwks != nil {
			found, err := j.jwks.keysFor(ctx, t, alg)
			if err != nil && len(keys) == 0 {
				return nil, err
			}
			for _, k := range found {
				if fits(alg, k) {
					keys = append(keys, k)
				}
			}
		}
		if len(keys) == 0 {
			return nil, &jwtFailure{"alg", fmt.Sprintf("alg %q: no key of that kind is configured", alg)}
		}
		return jwt.VerificationKeySet{Keys: keys}, nil
	}
}

// jwtIdentity is what a verified token says of its client.
type jwtIdentity struct {
	user   string
	claims []byte // the verified claims, compact JSON
	exp    time.Time
}

// verify checks a token and returns who it names.
func (j *JWT) verify(ctx context.Context, raw string) (jwtIdentity, error) {
	claims := jwt.MapClaims{}
	tok, err := j.parser.ParseWithClaims(raw, claims, j.keyFor(ctx))
	if err != nil {
		return jwtIdentity{}, classify(err)
	}
	var id jwtIdentity
	exp, err := claims.GetExpirationTime()
	if err != nil || exp == nil {
		return id, &jwtFailure{"claims", "no valid exp claim"}
	}
	id.exp = exp.Time.Add(j.opts.Leeway)
	switch v := claims[j.opts.UserClaim].(type) {
	case string:
		id.user = v
	case json.Number:
		id.user = v.String()
	}
	if id.user = bridge.CleanHeaderValue(id.user); id.user == "" {
		return id, &jwtFailure{"no_user", fmt.Sprintf("no %q claim (string or number) to name the user", j.opts.UserClaim)}
	}
	// The claims as signed, not as decoded and encoded again: numbers
	// keep their digits.
	parts := strings.Split(tok.Raw, ".")
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	var compact bytes.Buffer
	if err != nil || json.Compact(&compact, payload) != nil {
		return id, &jwtFailure{"malformed", "claims are not JSON"}
	}
	id.claims = compact.Bytes()
	return id, nil
}

// classify turns a parser error into a failure, its reason the first that
// applies.
func classify(err error) *jwtFailure {
	var f *jwtFailure
	if errors.As(err, &f) {
		return f
	}
	for _, c := range []struct {
		err    error
		reason string
		text   string
	}{
		{jwt.ErrTokenMalformed, "malformed", "malformed token"},
		{jwt.ErrTokenSignatureInvalid, "bad_signature", "bad signature"},
		{jwt.ErrTokenExpired, "expired", "token expired"},
		{jwt.ErrTokenNotValidYet, "not_yet_valid", "token not valid yet (nbf)"},
		{jwt.ErrTokenUsedBeforeIssued, "issued_in_future", "token issued in the future (iat)"},
		{jwt.ErrTokenInvalidAudience, "audience", "wrong audience"},
		{jwt.ErrTokenInvalidIssuer, "issuer", "wrong issuer"},
		{jwt.ErrTokenRequiredClaimMissing, "claims", "a required claim is missing (exp)"},
		{jwt.ErrTokenUnverifiable, "unverifiable", "token cannot be verified"},
	} {
		if errors.Is(err, c.err) {
			return &jwtFailure{c.reason, c.text}
		}
	}
	return &jwtFailure{"claims", "invalid claims"}
}

// presented finds the token a request carries: in Authorization: Bearer,
// in ?access_token=, or in the cookie, in that order; "" for none.
func (j *JWT) presented(r *http.Request) string {
	if scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(tok)
	}
	if tok, ok := queryParam(r.URL.RawQuery, JWTQueryParam); ok {
		return tok
	}
	if c, err := r.Cookie(j.opts.Cookie); err == nil {
		return c.Value
	}
	return ""
}

// strip returns r without any token: no Bearer Authorization, no
// ?access_token= (QUERY_STRING, REQUEST_URI and the query the program and
// the logs see), no token cookie.
func (j *JWT) strip(r *http.Request) *http.Request {
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	bearer := strings.EqualFold(scheme, "Bearer")
	_, inQuery := queryParam(r.URL.RawQuery, JWTQueryParam)
	if !bearer && !inQuery && !hasCookie(r, j.opts.Cookie) {
		return r
	}
	r2 := r.Clone(r.Context())
	if bearer {
		r2.Header.Del("Authorization")
	}
	if inQuery {
		r2.URL.RawQuery = withoutParam(r.URL.RawQuery, JWTQueryParam)
		r2.RequestURI = r2.URL.RequestURI()
	}
	withoutCookie(r2.Header, j.opts.Cookie)
	return r2
}

// challenge is the WWW-Authenticate of a refusal (RFC 6750 §3).
func (j *JWT) challenge(realm string, f *jwtFailure) string {
	desc := strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(f.Text)
	return `Bearer realm="` + realm + `", error="invalid_token", error_description="` + desc + `"`
}
