"""Small helpers below everything: fastos, fastjson, log, trace."""
