package auth

import (
	"errors"
	"fmt"
	"slices"

	jsonv2 "github.com/go-json-experiment/json"
)

// claims are what daprshop reads of a token, decoded strictly, as request
// bodies are (web.DecodeJSON): every name exactly as spelled here, no name
// twice anywhere in the token, and each value of its one type. Go's
// encoding/json, which go-oidc reads tokens with, would match "Sub" or
// "ROLES" for these names and keep the last of two "sub"s: a token two
// readers understand differently, which an identity provider that puts
// anything a user chose into a claim turns into someone else's identity.
// Claims daprshop does not read (email, azp, ...) may be present, as any
// identity provider adds some.
type claims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience audience `json:"aud"`
	// The times are NumericDates: JSON numbers, never strings.
	Expiry    *float64 `json:"exp"`
	NotBefore *float64 `json:"nbf"`
	IssuedAt  *float64 `json:"iat"`
	// Roles lists the token's roles (RolesClaim): strings, or no claim.
	Roles []string `json:"roles"`
}

// audience is the aud claim: one string, or an array of them (RFC 7519).
type audience []string

func (a *audience) UnmarshalJSON(data []byte) error {
	var one string
	if err := jsonv2.Unmarshal(data, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := jsonv2.Unmarshal(data, &many); err != nil {
		return errors.New("want a string or an array of strings")
	}
	*a = many
	return nil
}

// decodeClaims reads payload, a token's verified claims, strictly (see
// claims), and checks that they name issuer, include audience and carry an
// expiry. go-oidc has checked the same before with its lenient reading:
// what it read must also be what the claims say exactly.
func decodeClaims(payload []byte, issuer, audience string) (claims, error) {
	var c claims
	if err := jsonv2.Unmarshal(payload, &c); err != nil {
		return claims{}, fmt.Errorf("claims: %w", err)
	}
	switch {
	case c.Issuer != issuer:
		return claims{}, fmt.Errorf("claim iss %q: want %q", c.Issuer, issuer)
	case !slices.Contains(c.Audience, audience):
		return claims{}, fmt.Errorf("claim aud %q: want %q among them", c.Audience, audience)
	case c.Expiry == nil:
		return claims{}, errors.New("claim exp: missing")
	}
	return c, nil
}
