"""`datasety workflow`: steps from a YAML/JSON file, validated and run in order."""
