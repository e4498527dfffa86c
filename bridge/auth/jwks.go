package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// Bounds of a JWK Set fetch: a request with an unknown kid may wait for one,
// before it is authenticated, so it is short, small, and rare.
const (
	// jwksTimeout bounds one fetch, connection to last byte.
	jwksTimeout = 5 * time.Second
	// maxJWKSBytes bounds the document.
	maxJWKSBytes = 1 << 20
	// unknownKIDEvery spaces the fetches an unknown kid causes: a client
	// making up kids costs the identity provider one fetch this often.
	unknownKIDEvery = 30 * time.Second
)

// jwksStore holds the keys of --jwks-url. keyfunc/v3 maps a token to its
// JWK (kid, the JWK's own alg and use); the fetching is ours, so that it is
// bounded in time and size, never blocks on a rate limiter, and runs on no
// goroutine the server does not own (the library's own refresher would).
type jwksStore struct {
	*jwkset.MemoryJWKSet // the keys of the last good fetch
	url                  string
	client               *http.Client
	log                  *slog.Logger
	onFetch              func(error)
	kf                   keyfunc.Keyfunc

	mu       sync.Mutex
	next     time.Time     // the earliest fetch for an unknown kid
	fetching chan struct{} // closed when the fetch under way ends; nil: none
}

func newJWKSStore(rawURL string, client *http.Client, log *slog.Logger, onFetch func(error)) (*jwksStore, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("want an http:// or https:// URL")
	}
	if client == nil {
		client = &http.Client{Timeout: jwksTimeout}
	}
	s := &jwksStore{MemoryJWKSet: jwkset.NewMemoryStorage(), url: rawURL, client: client, log: log, onFetch: onFetch}
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		log.Warn("--jwks-url is plain http beyond loopback: whoever sits on the path can hand out keys; use https", "url", rawURL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), jwksTimeout)
	defer cancel()
	n, err := s.fetch(ctx)
	if err != nil {
		return nil, err
	}
	log.Info("JWK Set fetched", "url", rawURL, "keys", n)
	// Signing keys only: a JWK marked "use":"enc" verifies nothing.
	s.kf, err = keyfunc.New(keyfunc.Options{Storage: s, UseWhitelist: []jwkset.USE{jwkset.UseSig, ""}})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// fetch replaces the keys with the JWK Set's; on any error the keys stay.
func (s *jwksStore) fetch(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("HTTP status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return 0, err
	}
	if len(body) > maxJWKSBytes {
		return 0, fmt.Errorf("the JWK Set is larger than %d bytes", maxJWKSBytes)
	}
	var set jwkset.JWKSMarshal
	if err := json.Unmarshal(body, &set); err != nil {
		return 0, fmt.Errorf("not a JWK Set: %w", err)
	}
	var keys []jwkset.JWK
	for i, m := range set.Keys {
		k, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{}, jwkset.JWKValidateOptions{})
		if err != nil {
			// One key of a kind we do not know spoils none of the others.
			s.log.Warn("JWK Set: key skipped", "url", s.url, "index", i, "kid", m.KID, "err", err)
			continue
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return 0, errors.New("the JWK Set has no usable key")
	}
	s.KeyReplaceAll(ctx, keys)
	return len(keys), nil
}

// refresh fetches again, logging and counting the outcome; a failure
// keeps the keys there are.
func (s *jwksStore) refresh(ctx context.Context, why string) bool {
	ctx, cancel := context.WithTimeout(ctx, jwksTimeout)
	defer cancel()
	n, err := s.fetch(ctx)
	if s.onFetch != nil {
		s.onFetch(err)
	}
	if err != nil {
		s.log.Error("JWK Set fetch failed: keeping the keys fetched before", "url", s.url, "why", why, "err", err)
		return false
	}
	s.log.Info("JWK Set fetched", "url", s.url, "why", why, "keys", n)
	return true
}

// KeyRead is the stored key with that kid; an unknown kid may fetch the
// set again first (keys rotate), at most once every unknownKIDEvery. A
// fetch already under way is waited for rather than doubled.
func (s *jwksStore) KeyRead(ctx context.Context, kid string) (jwkset.JWK, error) {
	k, err := s.MemoryJWKSet.KeyRead(ctx, kid)
	if !errors.Is(err, jwkset.ErrKeyNotFound) {
		return k, err
	}
	s.mu.Lock()
	wait := s.fetching
	now := time.Now()
	if wait == nil {
		if now.Before(s.next) {
			s.mu.Unlock()
			return k, err
		}
		s.next = now.Add(unknownKIDEvery)
		done := make(chan struct{})
		s.fetching = done
		s.mu.Unlock()
		s.refresh(context.WithoutCancel(ctx), "unknown kid")
		s.mu.Lock()
		s.fetching = nil
		s.mu.Unlock()
		close(done)
	} else {
		s.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return k, err
		}
	}
	return s.MemoryJWKSet.KeyRead(ctx, kid)
}

// keysFor are the JWK Set's keys that may have signed t: the one its kid
// names, or without a kid every key whose alg, if it says one, is alg.
func (s *jwksStore) keysFor(ctx context.Context, t *jwt.Token, alg string) ([]any, error) {
	got, err := s.kf.KeyfuncCtx(ctx)(t)
	if err != nil {
		if errors.Is(err, jwkset.ErrKeyNotFound) {
			return nil, errUnknownKey
		}
		return nil, &jwtFailure{"unverifiable", "no usable key in the JWK Set"}
	}
	if set, ok := got.(jwt.VerificationKeySet); ok {
		keys := make([]any, len(set.Keys))
		for i, k := range set.Keys {
			keys[i] = k
		}
		return keys, nil
	}
	return []any{got}, nil
}

var _ jwkset.Storage = (*jwksStore)(nil)
