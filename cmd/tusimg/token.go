package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tusimg/tusimg/pkg/auth"
	"github.com/tusimg/tusimg/pkg/config"
)

// tokenCmd mints a signed upload token, as a backend would for a user:
// tusimg token --subject alice --ttl 1h. The key comes from
// TUSIMG_AUTH_SECRET or --secret-file (never a flag value, which ps shows).
func tokenCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tusimg token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	subject := fs.String("subject", "", "who the token is for (required); each subject sees only its own uploads")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is valid")
	maxSize := config.ByteSize(0)
	fs.Var(&maxSize, "max-size", "largest upload this token allows (0: the server's limit)")
	secretFile := fs.String("secret-file", "", "file holding the key (default: env TUSIMG_AUTH_SECRET)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	secret := getenv("TUSIMG_AUTH_SECRET")
	if *secretFile != "" {
		b, err := os.ReadFile(*secretFile)
		if err != nil {
			return fmt.Errorf("--secret-file: %v", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	switch {
	case secret == "":
		return fmt.Errorf("%w: no key: set TUSIMG_AUTH_SECRET or --secret-file", errUsage)
	case *subject == "":
		return fmt.Errorf("%w: --subject is required", errUsage)
	case *ttl <= 0:
		return fmt.Errorf("%w: --ttl must be positive", errUsage)
	}
	tok, err := auth.Mint([]byte(secret), auth.Claims{Subject: *subject, Expires: time.Now().Add(*ttl).Unix(), MaxSize: int64(maxSize)})
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
