#!/bin/sh
echo "install-deps: not written yet"
