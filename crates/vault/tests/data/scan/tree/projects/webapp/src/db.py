import os
DB_URL = os.environ["DATABASE_URL"]
MONGO = "mongodb+srv://reporting:CCud52QrnZpbNol8@cluster0.example.mongodb.net/reports"
AMQP = "amqp://worker:zrSLOjasYtsLq9mU@mq.internal:5672/"
MYSQL = "mysql://root:${MYSQL_ROOT_PASSWORD}@localhost/db"
password = input("Password: ")
token = os.environ.get("API_TOKEN")
