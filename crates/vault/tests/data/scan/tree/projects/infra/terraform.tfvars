supabase_access_token = "sbp_00c7132431e59a38c05500f2dfb8de63b3ffcba0"
fly_api_token = "fo1_U-d6zQTvqAfSpsPvrlg5rIkdzu8eRUH1j7sjsoJ7xAH"
db_password = "TXhd4am80MqxgB+%"
region = "eu-west-1"
