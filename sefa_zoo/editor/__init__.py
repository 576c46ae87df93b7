"""``sefa-zoo editor``: a local web page to move SeFa directions by hand.

session.py holds the state and rendering and imports no web library; page.py builds the page
with Gradio (the optional ``editor`` extra), imported only when the editor runs."""
