from kindred.migrations import run_env

run_env()
