package apikeygrpc_test

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/go-apikey/apikey"
	apikeygrpc "github.com/go-apikey/apikey/adapters/grpc"
)

// service answers UnaryCall with the owner of the caller's key.
type service struct {
	testpb.UnimplementedTestServiceServer
}

func (service) UnaryCall(ctx context.Context, _ *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	p, ok := apikey.FromContext(ctx)
	if !ok { // a public method: never serve it as nobody
		return nil, apikeygrpc.Error(apikey.ErrMissingKey)
	}
	return &testpb.SimpleResponse{Username: p.Owner}, nil
}

// A gRPC server whose methods need a key, except the health checks; a
// client sends its key in the x-api-key metadata entry (or authorization:
// Bearer).
func Example() {
	ctx := context.Background()
	keys := apikey.New(apikey.NewMemoryStore())
	defer keys.Close()
	plain, _, err := keys.Create(ctx, apikey.NewKey{Owner: "alice", Scopes: []string{"tests:run"}})
	if err != nil {
		panic(err)
	}

	auth := apikeygrpc.New(keys,
		apikeygrpc.WithScopes(map[string][]string{testpb.TestService_UnaryCall_FullMethodName: {"tests:run"}}),
		apikeygrpc.WithPublic(healthpb.Health_Check_FullMethodName, healthpb.Health_Watch_FullMethodName),
	)
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(auth.Unary), grpc.ChainStreamInterceptor(auth.Stream))
	testpb.RegisterTestServiceServer(srv, service{})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	client := testpb.NewTestServiceClient(conn)

	res, err := client.UnaryCall(metadata.AppendToOutgoingContext(ctx, "x-api-key", plain), &testpb.SimpleRequest{})
	fmt.Println(res.GetUsername(), err)

	_, err = client.UnaryCall(ctx, &testpb.SimpleRequest{})
	st := status.Convert(err)
	fmt.Println(st.Code(), st.Message())

	check, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	fmt.Println(check.GetStatus(), err)
	// Output:
	// alice <nil>
	// Unauthenticated Missing API key
	// SERVING <nil>
}
