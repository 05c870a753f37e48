"""The app's pages, one script each, run by ``st.navigation`` in app.py (never imported); the
modules beside this folder are what they share."""
