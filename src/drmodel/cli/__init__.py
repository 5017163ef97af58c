"""The command line: thin commands that parse, call one library function, render and return an exit code."""
