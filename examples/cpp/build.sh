#!/usr/bin/env bash
# Build the example trial program: ./build.sh [output path], default ./train next to this script.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
"${CXX:-g++}" -O2 -std=c++17 -Wall -Wextra -o "${1:-$here/train}" "$here/train.cpp"
