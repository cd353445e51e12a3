"""Sign in with WeChat inside the frameworks sites already run (SPEC §9.3)."""
