"""One module per Linux concern: its checks of the config and its plan records."""
