"""Command-line concerns shared by the entry points: quiet start-up, live
progress, ending without interpreter teardown."""
