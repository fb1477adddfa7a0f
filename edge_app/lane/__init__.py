"""edge_app/lane"""
