#!/bin/sh
# A CGI script in shell, served under a second CGI path prefix.
printf 'Content-Type: text/plain\r\n\r\nhello from %s\n' "$SCRIPT_NAME"
