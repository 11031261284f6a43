"""The Streamlit dashboard: pages, widgets, caching and session state (the only streamlit users)."""
