package bench

import (
	"testing"
)

// BenchmarkAgent runs the workload on every framework: io=inproc with each
// framework's own model interface, io=http through an httptest server
// speaking OpenAI chat completions with each framework's OpenAI client.
func BenchmarkAgent(b *testing.B) {
	for _, k := range Ks {
		b.Run("io=inproc/fw=floor/"+kName(k), func(b *testing.B) { perStep(b, k, floorRunner(b, k)) })
		b.Run("io=inproc/fw=ratchet-mem/"+kName(k), func(b *testing.B) { perStep(b, k, ratchetRunner(b, k, memStore)) })
		b.Run("io=inproc/fw=ratchet-file/"+kName(k), func(b *testing.B) { perStep(b, k, ratchetRunner(b, k, fileStore(b))) })
		b.Run("io=inproc/fw=eino/"+kName(k), func(b *testing.B) { perStep(b, k, einoRunner(b, k, einoModel{k})) })
		b.Run("io=inproc/fw=langchaingo/"+kName(k), func(b *testing.B) { perStep(b, k, lcRunner(b, k, lcModel{k})) })
		b.Run("io=inproc/fw=genkit/"+kName(k), func(b *testing.B) { perStep(b, k, genkitRunner(b, k, "")) })
	}
	for _, k := range Ks {
		s := NewServer(k)
		b.Run("io=http/fw=floor/"+kName(k), func(b *testing.B) { perStep(b, k, floorHTTPRunner(b, k, s.URL)) })
		b.Run("io=http/fw=ratchet-mem/"+kName(k), func(b *testing.B) {
			perStep(b, k, ratchetModelRunner(b, k, ratchetHTTPModel(b, s.URL), memStore))
		})
		b.Run("io=http/fw=ratchet-file/"+kName(k), func(b *testing.B) {
			perStep(b, k, ratchetModelRunner(b, k, ratchetHTTPModel(b, s.URL), fileStore(b)))
		})
		b.Run("io=http/fw=eino/"+kName(k), func(b *testing.B) { perStep(b, k, einoRunner(b, k, einoHTTPModel(b, s.URL))) })
		b.Run("io=http/fw=langchaingo/"+kName(k), func(b *testing.B) { perStep(b, k, lcRunner(b, k, lcHTTPModel(b, s.URL))) })
		b.Run("io=http/fw=genkit/"+kName(k), func(b *testing.B) { perStep(b, k, genkitRunner(b, k, s.URL)) })
		s.Close()
	}
}
