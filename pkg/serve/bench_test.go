package serve

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tusimg/tusimg/pkg/contentstore"
)

// plainObjects hides everything but contentstore.Object's own methods from
// the objects it opens, so the kernel sendfile path cannot be used: the
// baseline that BenchmarkServe/sendfile is compared with.
type plainObjects struct{ contentstore.Store }

func (s plainObjects) Open(ctx context.Context, sha string) (contentstore.Object, error) {
	obj, err := s.Store.Open(ctx, sha)
	if err != nil {
		return nil, err
	}
	return struct{ contentstore.Object }{obj}, nil
}

// BenchmarkServe fetches a 200 KiB image with parallel keep-alive GETs
// through a real httptest server; b.SetBytes makes MB/s the throughput.
func BenchmarkServe(b *testing.B) {
	for _, bc := range []struct {
		name string
		wrap func(contentstore.Store) contentstore.Store
	}{
		{"sendfile", func(s contentstore.Store) contentstore.Store { return s }},
		{"copy", func(s contentstore.Store) contentstore.Store { return plainObjects{s} }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := newFixture(b, 200<<10-8)
			mux := http.NewServeMux()
			mux.Handle("GET /i/{name}", New(bc.wrap(f.store), Options{}, testLog(b)))
			srv := httptest.NewServer(mux)
			defer srv.Close()
			client := srv.Client()
			client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
			url := srv.URL + "/i/" + f.png.SHA256 + ".png"
			b.SetBytes(int64(len(f.pngData)))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := fetch(client, url, len(f.pngData)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func fetch(client *http.Client, url string, size int) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || n != int64(size) {
		return fmt.Errorf("status %d, %d bytes", resp.StatusCode, n)
	}
	return nil
}
