#!/bin/bash -e
echo hi
