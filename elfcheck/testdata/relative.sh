#!bin/sh
