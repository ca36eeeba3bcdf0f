// Command fileserver is the plain Go baseline of deploy/bench/compare.sh: it
// serves the files of a directory at /i/{name} with http.ServeFile, the way
// a simple Go image server would, with the same caching headers as tusimg
// (ETag "<name>", so If-None-Match gets 304, and Content-Type image/png, so
// nothing is sniffed).
package main

import (
	"flag"
	"log"
	"net/http"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "listen address")
	dir := flag.String("dir", ".", "directory of the files, named by their SHA-256")
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /i/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if name == "" || strings.ContainsAny(name, `/\`) || strings.Contains(name, "..") {
			http.Error(w, "bad name", http.StatusBadRequest)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "image/png")
		h.Set("ETag", `"`+name+`"`)
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		http.ServeFile(w, r, filepath.Join(*dir, name))
	})
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	log.Fatal(srv.ListenAndServe())
}
