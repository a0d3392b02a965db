-- The plugin's version, shared by the client info sent to the backend and :QuillInfo.
return '0.1.0'
