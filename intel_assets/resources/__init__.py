"""One resource per external system; assets receive these and never branch on environment."""
