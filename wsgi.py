from customerdata import create_app

app = create_app()
