"""The REST API adapter: parses requests, calls domain services, renders resources and problems."""
