"""The web rim: the Flask app, the callback door, the API and the pages."""
