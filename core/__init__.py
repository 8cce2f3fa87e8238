"""SAR Studio core: everything the app and the command line do, with no Streamlit import."""
