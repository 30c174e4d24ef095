package main_test

this is not even rego but test files are skipped
