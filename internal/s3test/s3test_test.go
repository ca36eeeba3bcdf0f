package s3test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestStartStopRestart(t *testing.T) {
	s := Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	put := func() error {
		_, err := s.Client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(s.Bucket), Key: aws.String("a/b.txt"), Body: strings.NewReader("hello"),
		})
		return err
	}
	get := func() (string, error) {
		out, err := s.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String("a/b.txt")})
		if err != nil {
			return "", err
		}
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		return string(b), err
	}
	if err := put(); err != nil {
		t.Fatalf("put: %v", err)
	}
	if got, err := get(); err != nil || got != "hello" {
		t.Fatalf("get = %q, %v", got, err)
	}

	s.Stop()
	s.Stop() // idempotent
	short, cancelShort := context.WithTimeout(ctx, 5*time.Second)
	defer cancelShort()
	if _, err := s.Client.HeadBucket(short, &s3.HeadBucketInput{Bucket: aws.String(s.Bucket)}); err == nil {
		t.Fatal("HeadBucket succeeded on a stopped server")
	}

	s.Restart()
	if got, err := get(); err != nil || got != "hello" {
		t.Fatalf("after restart: get = %q, %v", got, err)
	}
}

func TestBinaryEnvOverride(t *testing.T) {
	t.Setenv(EnvBinary, "/nonexistent/versitygw")
	if got := Binary(); got != "" {
		t.Fatalf("Binary() = %q with a missing explicit binary, want \"\"", got)
	}
}
