module github.com/genrouter/genrouter

go 1.26.8

require (
	github.com/openai/openai-go/v3 v3.98.0
	github.com/tidwall/gjson v1.20.2
	go.uber.org/goleak v1.3.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/coder/websocket v1.8.15 // indirect
	github.com/kr/text v0.2.0 // indirect
	github.com/tidwall/match v1.1.1 // indirect
	github.com/tidwall/pretty v1.3.0 // indirect
	github.com/tidwall/sjson v1.2.5 // indirect
)
