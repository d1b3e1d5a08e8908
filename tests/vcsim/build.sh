#!/usr/bin/env bash
# Builds the vcsim launcher to tests/vcsim/bin/vcsim-launcher, from any directory.
# Needs Go and govmomi's source (Debian: golang-go golang-github-vmware-govmomi-dev);
# GOPATH mode, so nothing is downloaded.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
GOPATH=/usr/share/gocode GO111MODULE=off go build -o bin/vcsim-launcher .
