"""config.json and process.json: loading, the schema validator, `pyrunc check`,
`pyrunc spec`."""
