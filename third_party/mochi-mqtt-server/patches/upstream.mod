// The upstream release the patches in this directory apply to. mochipatch
// downloads it with this file as its go.mod (go mod download -modfile), so
// the download is verified against upstream.sum beside it, which no
// go mod tidy of mqflux touches.
module mqflux/mochi-upstream

go 1.21

require github.com/mochi-mqtt/server/v2 v2.7.9
