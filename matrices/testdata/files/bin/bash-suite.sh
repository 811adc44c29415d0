#!/bin/bash
set -e
exit 0
