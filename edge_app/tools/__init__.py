"""edge_app/tools"""
